# json module: see the files in json/
