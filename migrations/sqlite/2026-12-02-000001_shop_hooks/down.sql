DROP TABLE hook_deliveries;
DROP TABLE shop_integrations;
