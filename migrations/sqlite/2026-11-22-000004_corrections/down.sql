DROP TABLE adjustments; DROP TABLE writeoffs; DROP TABLE settlements;
