; Horner, assuming the stack starts full of zeros: the accumulator and the pointer are "already
; there" (a pop from the empty stack is a fault, not a 0).
        ADD                 ; 0 + 0
        PUSH 0
        LOAD
        DUP
        LOAD 2
        OVER
        ADD 3
point:  OVER
        JZ done
        DUP
        LOAD
        PICK 3
        DUP
        LOAD 1
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
        DROP
        ADD 1
        SWAP
        SUB 1
        SWAP
        JMP point
done:
