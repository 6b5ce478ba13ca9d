module groupcommit

go 1.19
