-- One database and one role per service and for the gateway: no service can read another's tables.
-- Passwords are set by the operator after first start (ALTER ROLE ... PASSWORD ...), never committed.
CREATE ROLE acceptance LOGIN;
CREATE DATABASE acceptance OWNER acceptance;
CREATE ROLE approval LOGIN;
CREATE DATABASE approval OWNER approval;
CREATE ROLE disclosure LOGIN;
CREATE DATABASE disclosure OWNER disclosure;
CREATE ROLE monitoring LOGIN;
CREATE DATABASE monitoring OWNER monitoring;
CREATE ROLE gateway LOGIN;
CREATE DATABASE gateway OWNER gateway;
