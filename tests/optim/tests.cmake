# optim tests
