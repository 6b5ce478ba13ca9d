; Horner, but the points are read until a 0 "sentinel" after the last one (there is none: the
; machine faults on a read past the input).
        PUSH 0
        LOAD                ; d                        [d]
        DUP
        ADD 3               ; address of x_0           [d a]
point:  DUP
        LOAD                ; x                        [d a x]
        DUP
        JZ done             ; "end of the points"
        PICK 2              ; r = d                    [d a x r]
        DUP
        LOAD 1              ; acc = c_d
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
        JMP point
done:   HALT
