# bench: benchmark programs (built by `make bench`, never run by make check).
