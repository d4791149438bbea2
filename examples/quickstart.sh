#!/bin/sh
# The member's main path on the built-in `local` profile: no cloud account needed.
# Run with tpuctl on PATH. Leaves nothing behind in the emulated project.
set -eu
name="quickstart-$$"
tpuctl config show
tpuctl types
tpuctl create "$name" --type v4-8 --hours 1
tpuctl list --mine
tpuctl stop "$name"
tpuctl start "$name"
tpuctl describe "$name"
tpuctl queue create "$name-q" --type v4-8 --spot --valid-for 1h
tpuctl queue list --mine
tpuctl queue delete "$name-q" --force --yes
tpuctl delete "$name" --yes
tpuctl list --mine
