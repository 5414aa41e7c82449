"""The Salesforce side of the integration edge, rendered as an SFDX project from the code's declarations
(`make salesforce`)."""
