-- Undoes 0012_notifications: notification channels and their deliveries go.

DROP TABLE notification_deliveries;
DROP TABLE notification_channels;
