"""What several test modules share: builders, fakes, the pipeline's types and helpers.

Test modules import from here, never from one another: a helper imported from a test
module drags that module's tests and fixtures along (pytest then collects them twice,
or registers fixtures under names the importer never meant to define).
"""
