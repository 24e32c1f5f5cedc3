"""Lambda function of ``Custom::PostmarkDomain`` (entry point ``app.handler``)."""
