; Horner's rule unrolled by 4, then one coefficient per iteration.
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
        PICK 3              ; r = d                    [d k a x r]
        DUP
        LOAD 1              ; acc = c_d                [d k a x r acc]
quad:   OVER
        SUB 4
        JNEG loop           ; fewer than 4 left
        PICK 2
        MUL
        OVER
        LOAD 0
        ADD
        PICK 2
        MUL
        OVER
        LOAD -1
        ADD
        PICK 2
        MUL
        OVER
        LOAD -2
        ADD
        PICK 2
        MUL
        OVER
        LOAD -3
        ADD
        SWAP
        SUB 4
        SWAP
        JMP quad
loop:   OVER
        JZ fin
        PICK 2
        MUL
        OVER
        LOAD 0
        ADD
        SWAP
        SUB 1
        SWAP
        JMP loop
fin:    OUT
        DROP
        DROP                ;                          [d k a]
        ADD 1
        SWAP
        SUB 1
        SWAP
        JMP point
done:   HALT
