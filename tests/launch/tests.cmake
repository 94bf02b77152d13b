# launch tests
