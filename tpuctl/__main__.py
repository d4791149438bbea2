from tpuctl.cli.app import main

main()
