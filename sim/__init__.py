"""Everything that simulates but is not RTL: golden models, backends, the command line."""
