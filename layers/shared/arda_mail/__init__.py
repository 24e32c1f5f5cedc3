"""Shared code of the Arda partition-mail custom resources.

The package imports nothing at module level on purpose: each Lambda handler pays only for the
modules it actually uses, which keeps cold starts close to ``import boto3`` alone.
"""
