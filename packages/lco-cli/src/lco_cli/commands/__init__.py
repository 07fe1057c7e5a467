"""The sub-commands of lco-reduce, one module each."""
