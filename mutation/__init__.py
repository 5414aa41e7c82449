"""`make mutate`: mutation testing of the guarantee modules."""
