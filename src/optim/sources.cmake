# optim sources (explicit list)
