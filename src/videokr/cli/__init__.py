"""The `videokr` command: one thin verb per stage; the work lives in the library."""
