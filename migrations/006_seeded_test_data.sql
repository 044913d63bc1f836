-- SPEC §5: seeded test participants are test data, not CBE data. A CBE import neither counts
-- them in its safety valve nor deactivates them, so a test deployment that seeded a demo
-- dataset accepts a real enterprise.csv.
ALTER TABLE enterprise ADD COLUMN test_data boolean NOT NULL DEFAULT false;
