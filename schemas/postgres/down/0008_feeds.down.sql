-- Undoes 0008_feeds: the record of deliveries and the feeds' state go (a feed then
-- accepts a redelivery as new); the commits index goes, no record is lost.

DROP INDEX commits_project_authored;
DROP TABLE feed_state;
DROP TABLE feed_deliveries;
