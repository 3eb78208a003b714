# store/doc: materialized documents (owned separately from the list store core)
