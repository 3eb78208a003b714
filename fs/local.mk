# fs module: see the files in fs/
