"""The connector test kit: sample generators and (later) fake vendor servers and contract tests."""
