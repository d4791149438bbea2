FORMAT = 1                                   # spec format; an agent refuses a newer one
