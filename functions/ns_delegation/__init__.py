"""Lambda function of ``Custom::NsDelegation`` (entry point ``app.handler``)."""
