# cloud module: see the files in cloud/
