"""Operator and developer tooling: CloudFormation protocol harness, drift check, rehearsal, benchmarks."""
