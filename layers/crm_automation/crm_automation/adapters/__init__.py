"""The only modules that call boto3: one per AWS service."""
