"""The OData engine Salesforce Connect reads: entity set declarations, $metadata, one request pipeline with a 4.0
and a 2.0 dialect, $filter/$orderby/$search, the planner that reads a page and never the table, and writes."""


class ODataEngineError(Exception):
    """Anything the OData engine refuses or cannot serve: answered as OData error JSON."""
