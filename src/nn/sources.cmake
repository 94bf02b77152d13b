# nn sources (explicit list)
