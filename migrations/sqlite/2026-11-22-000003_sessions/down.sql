DROP TABLE login_tokens; DROP TABLE sessions;
