; Horner's rule, one coefficient per loop iteration.
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
loop:   OVER
        JZ fin              ; r == 0: every coefficient used
        PICK 2
        MUL
        OVER
        LOAD 0              ; c_{r-1} at address r
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
