"""Lambda function of ``Custom::PostmarkDkim`` (entry point ``app.handler``)."""
