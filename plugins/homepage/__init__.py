"""The homepage plugin: a public inquiry form per tenant (a built-in, ordinary plugin)."""
