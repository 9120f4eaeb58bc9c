-- The version of wxflow each node runs (wxflow nodes, the console's nodes
-- page): during a rolling upgrade, which nodes still run the old binary.
-- '' for a node of a wxflow from before this migration.
ALTER TABLE nodes ADD COLUMN version text NOT NULL DEFAULT '';
