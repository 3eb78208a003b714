# store module: see the files in store/
