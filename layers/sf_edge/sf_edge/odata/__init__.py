"""OData: expressions today; the $metadata, planner and serializers of the feeds build on them."""
