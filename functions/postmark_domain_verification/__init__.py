"""Lambda function of ``Custom::PostmarkDomainVerification`` (entry point ``app.handler``)."""
