-- Undoes 0010_tickets: tickets, their history and their dependencies go.

DROP TABLE ticket_dependencies;
DROP TABLE ticket_events;
DROP TABLE tickets;
DROP FUNCTION ticket_events_append_only();
