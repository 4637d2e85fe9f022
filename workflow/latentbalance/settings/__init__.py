"""The configuration: the schema (allowed values and defaults), the whole-config check, and the
frozen recipes each job is built from."""
