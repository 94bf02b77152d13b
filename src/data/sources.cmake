# data sources (explicit list)
