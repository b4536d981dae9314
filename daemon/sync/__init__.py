"""Getting data in: the runner (records -> upsert -> commit -> checkpoint), file imports, runs."""
