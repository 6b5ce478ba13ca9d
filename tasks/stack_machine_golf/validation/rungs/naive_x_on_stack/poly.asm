; The textbook sum of c_i * x^i, with x^i by i multiplications, but x and d kept on the stack.
        PUSH 0
        LOAD                ; d                        [d]
        DUP
        LOAD 2              ; m                        [d k]
        OVER
        ADD 3               ; address of x_0           [d k a]
point:  OVER
        JZ done
        DUP
        LOAD                ; x                        [d k a x]
        PUSH 0              ; sum                      [d k a x sum]
        PICK 4              ; i = d                    [d k a x sum i]
term:   DUP
        LOAD 1              ; c_i                      [.. x sum i term]
        OVER                ; k = i                    [.. x sum i term k]
power:  DUP
        JZ add
        SWAP
        PICK 4              ; x
        MUL
        SWAP
        SUB 1
        JMP power
add:    DROP                ;                          [.. x sum i term]
        ROT
        ADD
        SWAP                ;                          [.. x sum i]
        DUP
        JZ next
        SUB 1
        JMP term
next:   DROP
        OUT                 ;                          [d k a x]
        DROP
        ADD 1
        SWAP
        SUB 1
        SWAP
        JMP point
done:   HALT
