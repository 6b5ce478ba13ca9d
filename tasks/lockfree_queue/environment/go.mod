module lockfree

go 1.19
