; p(x) = c_0 + c_1 x + ... + c_d x^d at every point x_j, the textbook way:
; each term c_i * x^i, with x^i by i multiplications.
;
; memory: M[0] = d, M[1 + i] = c_i, M[d + 2] = m, M[d + 3 + j] = x_j

        PUSH 0              ; j = 0                             [j]
point:  DUP
        PUSH 0
        LOAD                ; d                                 [j j d]
        LOAD 2              ; m = M[d + 2]                      [j j m]
        SUB
        JZ done             ; j == m: every point done          [j]
        PUSH 0              ; sum = 0                           [j sum]
        PUSH 0              ; i = 0                             [j sum i]
term:   DUP
        LOAD 1              ; c_i = M[i + 1]                    [j sum i c_i]
        OVER                ; k = i multiplications to do       [j sum i term k]
power:  DUP
        JZ add
        SWAP                ;                                   [j sum i k term]
        PICK 4              ; j
        PUSH 0
        LOAD                ; d
        ADD
        LOAD 3              ; x_j = M[d + 3 + j]                [j sum i k term x]
        MUL
        SWAP                ;                                   [j sum i term k]
        SUB 1
        JMP power
add:    DROP                ;                                   [j sum i term]
        ROT                 ;                                   [j i term sum]
        ADD
        SWAP                ;                                   [j sum i]
        DUP
        PUSH 0
        LOAD                ; d
        SUB
        JZ next             ; i == d: the last term is added    [j sum i]
        ADD 1
        JMP term
next:   DROP
        OUT                 ; p(x_j)                            [j]
        ADD 1
        JMP point
done:   HALT
