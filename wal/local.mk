# wal module: see the files in wal/
