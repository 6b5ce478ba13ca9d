; Horner unrolled by 8 (the reference), ending by running past the last instruction, not HALT
;
; memory: M[0] = d, M[1 + i] = c_i, M[d + 2] = m, M[d + 3 + j] = x_j
; Horner:  acc = c_d;  acc = acc * x + c_{i} for i = d-1 down to 0.
; One Horner step is 5 instructions: PICK 2 (x), MUL, OVER (pointer), LOAD k, ADD,
; with the coefficient's offset from the pointer in LOAD's immediate.

        PUSH 0
        LOAD                ; d                                  [d]
        DUP
        LOAD 2              ; m = M[d + 2]                       [d k]
        OVER
        ADD 3               ; a = address of x_0                 [d k a]
point:  OVER
        JZ done             ; no point left
        DUP
        LOAD                ; x = M[a]                           [d k a x]
        PICK 3
        SUB 8               ; s = d - 8: c_{s+7} is at s + 8
        DUP
        LOAD 9              ; acc = c_d = M[d + 1]               [d k a x s acc]
        OVER
        JNEG rest           ; fewer than 8 coefficients left
block:                      ; the 8 coefficients at addresses s+8 ... s+1
        PICK 2
        MUL
        OVER
        LOAD 8
        ADD
        PICK 2
        MUL
        OVER
        LOAD 7
        ADD
        PICK 2
        MUL
        OVER
        LOAD 6
        ADD
        PICK 2
        MUL
        OVER
        LOAD 5
        ADD
        PICK 2
        MUL
        OVER
        LOAD 4
        ADD
        PICK 2
        MUL
        OVER
        LOAD 3
        ADD
        PICK 2
        MUL
        OVER
        LOAD 2
        ADD
        PICK 2
        MUL
        OVER
        LOAD 1
        ADD
        SWAP
        SUB 8               ;                                    [x acc s]
        DUP
        JNEG left
        SWAP
        JMP block
rest:   SWAP                ;                                    [x acc s]
left:   ADD 8               ; r = coefficients left (0 ... 7), at addresses r ... 1
        DUP
        SUB 4
        JNEG two
        SWAP                ;                                    [x r acc]
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
        SUB 4               ;                                    [x acc r]
two:    DUP
        SUB 2
        JNEG one
        SWAP
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
        SWAP
        SUB 2
one:    JZ fin              ; r is 0 or 1 here                   [x acc]
        OVER
        MUL
        PUSH 0
        LOAD 1              ; c_0
        ADD
fin:    OUT                 ; p(x)                               [d k a x]
        DROP
        ADD 1               ; next point
        SWAP
        SUB 1
        SWAP                ;                                    [d k-1 a+1]
        JMP point
done:               ; falls off the end instead of HALT (one step less)
